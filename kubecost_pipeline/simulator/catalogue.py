"""What the fleet is made of: instance types and prices per provider, names of namespaces,
teams, roles, sidecars and system daemonsets, and typical container requests."""

from __future__ import annotations

# (instance type, cores, GiB RAM, GPUs, on-demand $/hour)
INSTANCE_TYPES = {
    "AWS": [
        ("m5.xlarge", 4, 16, 0, 0.192),
        ("m5.2xlarge", 8, 32, 0, 0.384),
        ("c5.2xlarge", 8, 16, 0, 0.34),
        ("r5.xlarge", 4, 32, 0, 0.252),
    ],
    "GCP": [
        ("e2-standard-4", 4, 16, 0, 0.134),
        ("n2-standard-8", 8, 32, 0, 0.388),
        ("n2-highmem-4", 4, 32, 0, 0.262),
    ],
    "Azure": [
        ("Standard_D4s_v5", 4, 16, 0, 0.192),
        ("Standard_D8s_v5", 8, 32, 0, 0.384),
        ("Standard_E4s_v5", 4, 32, 0, 0.252),
    ],
}
GPU_TYPES = {
    "AWS": ("g4dn.xlarge", 4, 16, 1, 0.526),
    "GCP": ("n1-standard-4-t4", 4, 15, 1, 0.54),
    "Azure": ("Standard_NC4as_T4_v3", 4, 28, 1, 0.526),
}
REGIONS = {
    "AWS": ["us-east-1", "eu-west-1", "us-west-2"],
    "GCP": ["europe-west1", "us-central1"],
    "Azure": ["westeurope", "eastus"],
}
PROVISIONER = {"AWS": "EKS", "GCP": "GKE", "Azure": "AKS"}
STORAGE_CLASS = {"AWS": "gp3", "GCP": "standard-rwo", "Azure": "managed-csi"}
MGMT_HOURLY = {"AWS": 0.10, "GCP": 0.10, "Azure": 0.10}
PV_GIB_HOURLY = 0.08 / 730  # $0.08 per GiB-month
LB_HOURLY = 0.025
EGRESS_PER_GB = 0.01
ENVIRONMENTS = ["prod", "staging", "dev"]
NAMESPACE_POOL = [
    "kubecost",
    "monitoring",
    "ingress-nginx",
    "payments",
    "checkout",
    "catalog",
    "search",
    "recommendations",
    "auth",
    "orders",
    "inventory",
    "shipping",
    "notifications",
    "analytics",
    "ml-training",
    "data-pipeline",
    "frontend",
    "api-gateway",
    "billing",
    "reporting",
    "cert-manager",
    "logging",
    "argocd",
    "customer-portal",
    "fraud-detection",
    "media",
]
TEAMS = ["platform", "commerce", "growth", "data", "identity", "sre"]
ROLES = [
    "api",
    "worker",
    "web",
    "consumer",
    "scheduler",
    "gateway",
    "cache",
    "db",
    "exporter",
    "indexer",
    "sync",
    "renderer",
    "processor",
    "backend",
    "proxy",
]
SIDECARS = ["istio-proxy", "log-shipper", "config-reloader"]
SYSTEM_DAEMONSETS = {
    "AWS": ["kube-proxy", "aws-node", "ebs-csi-node"],
    "GCP": ["kube-proxy", "pdcsi-node", "fluentbit-gke"],
    "Azure": ["kube-proxy", "azure-ip-masq-agent", "csi-azuredisk-node"],
}
CPU_REQUESTS = [0.02, 0.05, 0.1, 0.1, 0.1, 0.25, 0.25, 0.5, 1.0]
RAM_REQUESTS_MIB = [64, 128, 128, 256, 256, 512, 512, 1024, 2048]
