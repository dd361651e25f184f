"""The seed harness (dbt_k8s_costs/integration_tests) builds green and its marts are right."""

from __future__ import annotations

from collections import Counter

import pytest

pytestmark = pytest.mark.slow  # dbt builds, real processes: `make test` only


def test_given_the_seed_harness_when_dbt_builds_then_models_tests_and_unit_tests_pass(
    dbt, harness, seeded_landing, ch_client, ch_database
):
    results = dbt(
        ["build", "--exclude", "resource_type:seed"],
        project=harness,
        vars={"kubecost_database": seeded_landing},
    )

    kinds = Counter(r.node.resource_type for r in results)
    # 3 staging views, the 2 staging tables of readings, 4 marts (intermediates are
    # ephemeral), 6 per-level views, showback, clusters, assets, FOCUS
    assert kinds["model"] == 19
    assert kinds["unit_test"] == 4
    assert kinds["test"] >= 30
    assert not [r.node.name for r in results if str(r.status) == "warn"]
    levels = dict(
        ch_client.query(
            f"select level, count() from `{ch_database}_marts`.k8s_resources group by level"
        ).result_rows
    )
    assert levels == {"cluster": 2, "node": 4, "namespace": 4, "pod": 5}

    # k8s_resources carries the pod's and the node's metadata and a rightsizing signal
    pod = ch_client.query(
        "select k8s_node, k8s_service, controller_kind, controller, containers, "
        "cpu_request_cores, recommended_cpu_cores, monthly_saving, labels "
        f"from `{ch_database}_marts`.k8s_resources "
        "where level = 'pod' and resource_key = 'payments/api-7d9c-abcde'"
    ).named_results()
    (row,) = list(pod)
    assert (row["k8s_node"], row["k8s_service"]) == ("node-a", "api-svc")
    assert (row["controller_kind"], row["controller"]) == ("deployment", "api")
    assert '"name":"istio-proxy"' in row["containers"]
    assert row["cpu_request_cores"] == 1.1
    assert abs(row["recommended_cpu_cores"] - (0.25 + 0.05) * 1.2) < 1e-9
    assert row["monthly_saving"] > 0
    assert row["labels"] == {"app": "api", "team": "payments"}
    node = ch_client.query(
        "select instance_type, zone, region, capacity_cpu_cores, is_spot "
        f"from `{ch_database}_marts`.k8s_resources where level = 'node' and resource_key = 'node-b'"
    ).result_rows
    assert node == [("m5.large", "eu-west-1b", "eu-west-1", 2.0, True)]
