#compdef custctl
# zsh completion for custctl             source <(custctl completion zsh)   (or put it in $fpath as _custctl)
_custctl() {
  local -a cmds global
  cmds=(
    'delete:delete customers (release, namespace, cluster RBAC, row)'
    'cancel:cancel a scheduled deletion, restore the instance'
    'restore:bring a deleted customer back from a backup'
    'status:state of a job or a customer'
    'jobs:list, retry, resume, cancel or prune jobs'
    'worker:run queued deletion jobs'
    'cleanup-rbac:find and remove orphaned cluster RBAC'
    'serve:run the queue API'
    'customers:list or register customer rows'
    'db:database schema'
    'doctor:check what a real deletion needs'
    'version:versions of custctl, helm, the API server and the database'
    'audit:list or prune the audit log'
    'completion:print a shell completion script'
  )
  global=(
    '--kubeconfig[kubeconfig file]:file:_files'
    '--context[kube context]:context:'
    '--api-url[queue API URL]:url:'
    '--store[customer store]:store:(embedded postgres)'
    '--metrics-textfile[write the run'"'"'s metrics to this file]:file:_files'
    '(-v --verbose)'{-v,--verbose}'[debug logging]'
    '--no-color[no colour]'
  )
  if (( CURRENT == 2 )); then
    _describe -t commands 'custctl command' cmds
    return
  fi
  local -a opts
  case "$words[2]" in
    delete) opts=('(-y --yes)'{-y,--yes}'[do not ask]' '--dry-run[plan only]' '--detach[queue only]' '--concurrency[customers at once]:n:' '--timeout[namespace wait]:duration:' '--job-timeout[attempt timeout]:duration:' '--force[also deploying]' '--allow-missing[reset a deployed row with nothing left]' '--allow-cluster-scoped[allow objects outside the namespace]' '--allow-outside-namespace[same as --allow-cluster-scoped]' '--backup[write a verified backup first]:url:' '--no-backup[no backup]' '(-o --output)'{-o,--output}'[format]:format:(table json yaml)') ;;
    status) opts=('1:what:(job customer)' '--watch[follow until done]' '(-o --output)'{-o,--output}'[format]:format:(table json yaml)') ;;
    jobs) opts=('1:action:(list retry resume cancel prune)' '--state[state]:state:(waiting active delayed completed failed)' '--customer[customer]:id:' '--older-than[age]:duration:' '(-o --output)'{-o,--output}'[format]:format:(table json yaml)') ;;
    worker) opts=('--once[stop when nothing is due]' '--concurrency[jobs at once]:n:' '--metrics-port[serve GET /metrics on this port]:port:' '--metrics-host[address of the metrics port]:address:') ;;
    cleanup-rbac) opts=('--dry-run[report only]' '--exit-code[exit 6 when orphans exist]' '--customer[one customer]:id:' '--include-kept[also resource-policy keep]' '--yes[do not ask]' '(-o --output)'{-o,--output}'[format]:format:(table json yaml)') ;;
    serve) opts=('--port[port]:port:' '--host[address]:host:' '--no-worker[do not run jobs]' '--tls-cert[certificate]:file:_files' '--tls-key[key]:file:_files' '--insecure-http[allow plain HTTP off loopback]') ;;
    doctor) opts=('(-o --output)'{-o,--output}'[format]:format:(table json yaml)') ;;
    version) opts=('--client[only what runs here]' '(-o --output)'{-o,--output}'[format]:format:(table json yaml)') ;;
    customers) opts=('1:action:(list add)' '--email[e-mail]:email:' '--company[company]:name:' '--namespace[namespace]:ns:' '--status[status]:status:(pending deploying deployed deleting deletion_failed failed)' '(-o --output)'{-o,--output}'[format]:format:(table json yaml)') ;;
    db) opts=('1:action:(migrate check)') ;;
    audit) opts=('1:action:(list prune)' '--customer[one customer]:id:' '--since[age or date]:since:' '--action[actions]:action:' '--limit[rows]:n:' '--before[date or age]:date:' '--yes[really prune]' '(-o --output)'{-o,--output}'[format]:format:(table json yaml)') ;;
    completion) opts=('1:shell:(bash zsh fish)') ;;
  esac
  _arguments -s $global $opts '*:argument:'
}
compdef _custctl custctl
