{#- FOCUS 1.2 rules for the columns k8s_focus_costs fills, and its rows of a day and cluster
    adding up to the cluster's cost with idle (ListCost: without adjustments), checked in
    one pass over the view (a view: each test re-reads it). Lists every row that breaks a
    rule, with the rule. The contract already fixes every column's name and type (costs
    are non-Nullable Float64, so never null); docs/focus.md lists the rules and sources. -#}

with

focus as (

    select
        ResourceId,
        ChargePeriodStart,
        multiIf(
            not (isFinite(BilledCost) and isFinite(EffectiveCost) and isFinite(ListCost)
                and isFinite(ContractedCost)),
                'costs are finite numbers',
            ChargePeriodEnd != ChargePeriodStart + interval 1 day,
                'ChargePeriodEnd is ChargePeriodStart + 1 day',
            not (BillingPeriodStart = toStartOfMonth(ChargePeriodStart)
                and BillingPeriodEnd = BillingPeriodStart + interval 1 month),
                'the billing period is the charge period''s calendar month',
            BillingCurrency is not null and not match(BillingCurrency, '^[A-Z]{3}$'),
                'BillingCurrency is an ISO 4217 code',
            ChargeCategory not in ('Usage', 'Purchase', 'Tax', 'Credit', 'Adjustment'),
                'ChargeCategory is an allowed value',
            ChargeClass is not null and ChargeClass != 'Correction',
                'ChargeClass is null or Correction',
            ChargeFrequency not in ('One-Time', 'Recurring', 'Usage-Based'),
                'ChargeFrequency is an allowed value',
            ServiceCategory not in (
                'AI and Machine Learning', 'Analytics', 'Business Applications', 'Compute',
                'Databases', 'Developer Tools', 'Multicloud', 'Identity', 'Integration',
                'Internet of Things', 'Management and Governance', 'Media', 'Migration',
                'Mobile', 'Networking', 'Security', 'Storage', 'Web', 'Other'
            ), 'ServiceCategory is an allowed value',
            ResourceId = '' or ServiceName = '' or ChargeDescription = '',
                'ResourceId, ServiceName and ChargeDescription are filled',
            Tags is not null and not (
                isValidJSON(assumeNotNull(Tags)) and JSONType(assumeNotNull(Tags)) = 'Object'
                and length(JSONExtractKeys(assumeNotNull(Tags)))
                    = length(arrayDistinct(JSONExtractKeys(assumeNotNull(Tags))))
                and arrayAll(
                    key -> JSONType(assumeNotNull(Tags), key) not in ('Object', 'Array'),
                    JSONExtractKeys(assumeNotNull(Tags))
                )
            ), 'Tags is a JSON object of unique keys and scalar values',
            x_CostType not in ('pod', 'idle'), 'x_CostType is pod or idle',
            ''
        ) as broken_rule,
        count() over (partition by ChargePeriodStart, ResourceId) as rows_of_resource,
        toDate(ChargePeriodStart) as date,
        x_ClusterId as cluster,
        sum(EffectiveCost) over (partition by ChargePeriodStart, x_ClusterId)
            as cluster_effective_cost,
        sum(ListCost) over (partition by ChargePeriodStart, x_ClusterId) as cluster_list_cost
    from {{ ref('k8s_focus_costs') }}
    where {{ recent_days_only('ChargePeriodStart') }}

),

clusters as (

    select
        date,
        cluster,
        total_cost_with_idle,
        adjustment_cost
    from {{ ref('k8s_expenses_daily') }}
    where level = 'cluster'

),

checked as (

    select
        focus.ResourceId as ResourceId,
        focus.ChargePeriodStart as ChargePeriodStart,
        multiIf(
            focus.broken_rule != '', focus.broken_rule,
            focus.rows_of_resource > 1, 'one row per ChargePeriodStart and ResourceId',
            abs(focus.cluster_effective_cost - clusters.total_cost_with_idle)
                > {{ var('reconciliation_tolerance', 0.000001) }}
                or abs(focus.cluster_list_cost
                    - (clusters.total_cost_with_idle - clusters.adjustment_cost))
                > {{ var('reconciliation_tolerance', 0.000001) }},
                'the rows of a day and cluster add up to its cost with idle',
            ''
        ) as broken_rule
    from focus
    left join clusters on focus.date = clusters.date and focus.cluster = clusters.cluster

)

select * from checked
where broken_rule != ''
