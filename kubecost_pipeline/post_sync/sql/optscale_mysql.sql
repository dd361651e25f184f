-- The OptScale MySQL tables the hook reads and writes, as OptScale's SQLAlchemy models create
-- them (hystax/optscale rest_api/rest_api_server/models/models.py and alembic at 4617ceb9e803):
-- int unix timestamps, no server-side defaults (SQLAlchemy supplies them), upstream's
-- discovery_info enum. For tests and laptops only: CloudTuner's own migrations own these.
CREATE TABLE organization (
    id VARCHAR(36) NOT NULL,
    created_at INTEGER NOT NULL,
    deleted_at INTEGER NOT NULL,
    name VARCHAR(256) NOT NULL,
    pool_id VARCHAR(36) NULL,
    is_demo TINYINT(1) NOT NULL,
    currency VARCHAR(256) NOT NULL,
    cleaned_at INTEGER NOT NULL,
    disabled TINYINT(1) NOT NULL,
    PRIMARY KEY (id)
) ENGINE=InnoDB;

CREATE TABLE employee (
    id VARCHAR(36) NOT NULL,
    created_at INTEGER NOT NULL,
    deleted_at INTEGER NOT NULL,
    name VARCHAR(256) NOT NULL,
    organization_id VARCHAR(36) NOT NULL,
    auth_user_id VARCHAR(36) NULL,
    PRIMARY KEY (id),
    CONSTRAINT uc_employee_org_auth_user UNIQUE (organization_id, auth_user_id, deleted_at),
    FOREIGN KEY (organization_id) REFERENCES organization (id)
) ENGINE=InnoDB;

CREATE TABLE pool (
    id VARCHAR(36) NOT NULL,
    created_at INTEGER NOT NULL,
    deleted_at INTEGER NOT NULL,
    `limit` BIGINT NOT NULL,
    name VARCHAR(256) NOT NULL,
    organization_id VARCHAR(36) NOT NULL,
    parent_id VARCHAR(36) NULL,
    purpose ENUM('BUSINESS_UNIT','TEAM','PROJECT','CICD','MLAI','ASSET_POOL','BUDGET') NOT NULL,
    default_owner_id VARCHAR(36) NULL,
    PRIMARY KEY (id),
    CONSTRAINT uc_name_del_at_parent_id_organization_id
        UNIQUE (name, deleted_at, parent_id, organization_id),
    FOREIGN KEY (organization_id) REFERENCES organization (id),
    FOREIGN KEY (parent_id) REFERENCES pool (id),
    FOREIGN KEY (default_owner_id) REFERENCES employee (id)
) ENGINE=InnoDB;

ALTER TABLE organization ADD FOREIGN KEY (pool_id) REFERENCES pool (id);

CREATE TABLE cloudaccount (
    id VARCHAR(36) NOT NULL,
    created_at INTEGER NOT NULL,
    deleted_at INTEGER NOT NULL,
    name VARCHAR(256) NOT NULL,
    type ENUM('AWS_CNR','ALIBABA_CNR','AZURE_CNR','AZURE_TENANT','KUBERNETES_CNR','ENVIRONMENT',
              'GCP_CNR','NEBIUS','DATABRICKS') NOT NULL,
    config TEXT NOT NULL,
    organization_id VARCHAR(36) NOT NULL,
    cost_model_id VARCHAR(36) NULL,
    auto_import TINYINT(1) NOT NULL,
    import_period INTEGER NOT NULL,
    last_import_at INTEGER NOT NULL,
    last_import_modified_at INTEGER NOT NULL,
    account_id VARCHAR(256) NULL,
    process_recommendations TINYINT(1) NOT NULL,
    last_import_attempt_at INTEGER NOT NULL,
    last_import_attempt_error TEXT NULL,
    last_getting_metrics_at INTEGER NOT NULL,
    last_getting_metric_attempt_at INTEGER NOT NULL,
    last_getting_metric_attempt_error TEXT NULL,
    cleaned_at INTEGER NOT NULL,
    parent_id VARCHAR(36) NULL,
    PRIMARY KEY (id),
    CONSTRAINT uc_org_name_del_at UNIQUE (organization_id, name, deleted_at),
    CONSTRAINT uc_account_type_org_id_del_at UNIQUE (account_id, type, organization_id, deleted_at),
    FOREIGN KEY (organization_id) REFERENCES organization (id),
    FOREIGN KEY (parent_id) REFERENCES cloudaccount (id)
) ENGINE=InnoDB;

CREATE TABLE discovery_info (
    id VARCHAR(36) NOT NULL,
    created_at INTEGER NOT NULL,
    deleted_at INTEGER NOT NULL,
    cloud_account_id VARCHAR(36) NOT NULL,
    resource_type ENUM('instance','volume','snapshot','bucket','k8s_pod','snapshot_chain',
                       'rds_instance','ip_address','image') NOT NULL,
    observe_time INTEGER NOT NULL,
    last_discovery_at INTEGER NOT NULL,
    last_error_at INTEGER NOT NULL,
    last_error TEXT NULL,
    enabled TINYINT(1) NOT NULL,
    PRIMARY KEY (id),
    CONSTRAINT uc_cloud_acc_id_del_at UNIQUE (cloud_account_id, resource_type, deleted_at),
    FOREIGN KEY (cloud_account_id) REFERENCES cloudaccount (id)
) ENGINE=InnoDB;
