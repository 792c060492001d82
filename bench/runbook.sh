#!/usr/bin/env bash
# The seed's deletion runbook for one customer, as the seed writes it (docs: "K8sDeploymentService
# .deleteCustomerInstance"): helm uninstall, kubectl delete namespace --timeout=5m, the OpenCost
# ClusterRoleBinding/ClusterRole found with grep, then the row reset to pending with psql.
# Usage: runbook.sh <key>   (helm, kubectl on PATH; KUBECONFIG and DATABASE_URL set)
# Every step is "non-blocking" in the seed: a failure warns and the runbook goes on.
key=$1
helm uninstall "customer-$key" --namespace "customer-$key" || echo "warn: helm uninstall failed" >&2
kubectl delete namespace "customer-$key" --timeout=5m || echo "warn: namespace delete failed" >&2
for b in $(kubectl get clusterrolebinding -o name | grep "c$key-customer-instance"); do
  kubectl delete "$b" || echo "warn: $b not deleted" >&2
done
for r in $(kubectl get clusterrole -o name | grep "c$key-customer-instance"); do
  kubectl delete "$r" || echo "warn: $r not deleted" >&2
done
psql "$DATABASE_URL" -q -v ON_ERROR_STOP=1 -c \
  "update customers set deployment_status = 'pending', instance_namespace = '', instance_url = '', updated_at = now() where customer_id = 'cust_$key'"
