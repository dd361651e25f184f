{#- Showback rules, in one pass over the view (a view: each test re-reads it) over the
    last `view_test_days` days: one row per date, cluster, label key and value; a value
    is never blank (`__unallocated__` instead); and each label key splits the cluster's
    allocated cost whole (its values add up to the cluster's total; a missing key counts
    as 0). Lists every day, cluster and key that breaks a rule, with the rule. -#}

with

per_key as (

    select
        date,
        cluster,
        label_key,
        sum(total_cost) as total_cost,
        count() - uniqExact(label_value) as duplicated_values,
        countIf(label_value = '') as blank_values
    from {{ ref('k8s_showback_daily') }}
    where {{ recent_days_only('date') }}
    group by date, cluster, label_key

),

label_keys as (

    select arrayJoin({{ showback_label_keys() }}) as label_key

),

expected as (

    select
        clusters.date as date,
        clusters.cluster as cluster,
        label_keys.label_key as label_key,
        clusters.total_cost as total_cost
    from {{ ref('k8s_expenses_daily') }} as clusters
    cross join label_keys
    where clusters.level = 'cluster' and {{ recent_days_only('clusters.date') }}

),

checked as (

    select
        expected.date as date,
        expected.cluster as cluster,
        expected.label_key as label_key,
        multiIf(
            per_key.duplicated_values > 0, 'one row per label value',
            per_key.blank_values > 0, 'a label value is never blank',
            abs(per_key.total_cost - expected.total_cost)
                > {{ var('reconciliation_tolerance', 0.000001) }},
                'the values of a key add up to the cluster',
            ''
        ) as broken_rule
    from expected
    left join per_key
        on expected.date = per_key.date and expected.cluster = per_key.cluster
        and expected.label_key = per_key.label_key

)

select * from checked
where broken_rule != ''
