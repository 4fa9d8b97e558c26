# Kubernetes targets (kind cluster, image, Helm chart); filled in with the chart.
