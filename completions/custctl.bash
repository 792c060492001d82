# bash completion for custctl            source <(custctl completion bash)
_custctl() {
  local cur prev words cword
  cur="${COMP_WORDS[COMP_CWORD]}"
  prev="${COMP_WORDS[COMP_CWORD-1]}"
  local global="--kubeconfig --context --api-url --store --metrics-textfile -v --verbose --no-color --help --version"
  local cmds="delete cancel restore status jobs worker cleanup-rbac serve customers db audit doctor version completion help"
  case "$prev" in
    --kubeconfig|--tls-cert|--tls-key) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    -o|--output) COMPREPLY=($(compgen -W "table json yaml" -- "$cur")); return ;;
    --store) COMPREPLY=($(compgen -W "embedded postgres" -- "$cur")); return ;;
    --state) COMPREPLY=($(compgen -W "waiting active delayed completed failed" -- "$cur")); return ;;
    --context) COMPREPLY=($(compgen -W "$(kubectl config get-contexts -o name 2>/dev/null)" -- "$cur")); return ;;
  esac
  local cmd="" sub="" i
  for ((i = 1; i < COMP_CWORD; i++)); do
    case "${COMP_WORDS[i]}" in
      -*) ;;
      *) if [ -z "$cmd" ]; then cmd="${COMP_WORDS[i]}"; elif [ -z "$sub" ]; then sub="${COMP_WORDS[i]}"; fi ;;
    esac
  done
  local opts=""
  case "$cmd" in
    "") COMPREPLY=($(compgen -W "$cmds $global" -- "$cur")); return ;;
    delete) opts="--after --yes --dry-run --detach --concurrency --timeout --job-timeout --force --allow-missing --allow-cluster-scoped --allow-outside-namespace --backup --no-backup -o --output" ;;
    cancel) opts="-o --output" ;;
    restore) opts="--from --dry-run --yes -o --output" ;;
    status) [ -z "$sub" ] && { COMPREPLY=($(compgen -W "job customer" -- "$cur")); return; }; opts="-o --output --watch" ;;
    jobs) [ -z "$sub" ] && { COMPREPLY=($(compgen -W "list retry resume cancel prune" -- "$cur")); return; }; opts="--state --customer --older-than -o --output --yes" ;;
    worker) opts="--once --concurrency --metrics-port --metrics-host" ;;
    cleanup-rbac) opts="--dry-run --exit-code --customer --include-kept --yes -o --output" ;;
    serve) opts="--port --host --no-worker --tls-cert --tls-key --insecure-http" ;;
    customers) [ -z "$sub" ] && { COMPREPLY=($(compgen -W "list add" -- "$cur")); return; }; opts="--email --company --namespace --url --status --scheduled --within -o --output" ;;
    db) [ -z "$sub" ] && { COMPREPLY=($(compgen -W "migrate check" -- "$cur")); return; } ;;
    doctor) opts="-o --output" ;;
    version) opts="--client -o --output" ;;
    audit) [ -z "$sub" ] && { COMPREPLY=($(compgen -W "list prune" -- "$cur")); return; }; opts="--customer --since --action --limit --before --yes -o --output" ;;
    completion) COMPREPLY=($(compgen -W "bash zsh fish" -- "$cur")); return ;;
  esac
  COMPREPLY=($(compgen -W "$opts $global" -- "$cur"))
}
complete -F _custctl custctl
