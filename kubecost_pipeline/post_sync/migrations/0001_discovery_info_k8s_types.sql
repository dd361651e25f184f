-- OPT-IN. Adds k8s_cluster, k8s_node and k8s_namespace to discovery_info.resource_type, so the
-- hook records a discovery time per level (without it, it records k8s_pod only).
--
-- Apply it only together with the CloudTuner code change it needs (docs/cloudtuner-hook.md,
-- "discovery_info"): new ResourceTypes members, each with a model in RES_MODEL_MAP, and a
-- Kubernetes adapter whose discovery_calls_map() returns them. Without that, OptScale's
-- resource_discovery scheduler soft-deletes these rows on its next run and its observer raises
-- KeyError on them. In CloudTuner, ship it as an alembic revision of rest_api with the same
-- statement; this file is the statement.
--
-- Up:
ALTER TABLE discovery_info MODIFY resource_type
    ENUM('instance','volume','snapshot','bucket','k8s_pod','snapshot_chain','rds_instance',
         'ip_address','image','k8s_cluster','k8s_node','k8s_namespace') NOT NULL;

-- Down (run by hand; fails while rows of the new types exist, delete them first):
-- DELETE FROM discovery_info WHERE resource_type IN ('k8s_cluster','k8s_node','k8s_namespace');
-- ALTER TABLE discovery_info MODIFY resource_type
--     ENUM('instance','volume','snapshot','bucket','k8s_pod','snapshot_chain','rds_instance',
--          'ip_address','image') NOT NULL;
