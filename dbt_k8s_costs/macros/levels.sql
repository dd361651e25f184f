{#- The per-level marts (models/marts/levels/): one level of k8s_expenses_daily each, with
    efficiency weighted as Kubecost's UI weights it and, below the node level, the
    cluster's idle shared out. Views: nothing is stored, a query reads the two
    incremental marts. -#}

{% macro level_resource_key(level) -%}
  {#- The resource key of an allocated (not idle) row of k8s_costs_daily at `level`, as
      k8s_expenses_daily keys its rows and the per-level marts join their allocations. -#}
  {%- if level == 'cluster' -%} cluster
  {%- elif level == 'node' -%} if(node = '', '__unallocated__', node)
  {%- elif level == 'namespace' -%} namespace
  {%- elif level == 'controller' -%}
    if(controller = '', concat(namespace, '/__unallocated__'),
        concat(namespace, '/', controller_kind, ':', controller))
  {%- elif level == 'service' -%}
    concat(namespace, '/', if(service = '', '__unallocated__', service))
  {%- elif level == 'pod' -%} concat(namespace, '/', pod)
  {%- else -%} {{ exceptions.raise_compiler_error('unknown level ' ~ level) }}
  {%- endif -%}
{%- endmacro %}


{% macro level_costs(level, columns) -%}
  {#- One row per date, cluster and resource of `level`. `columns`: the level's own
      columns, as SQL over `expenses` (k8s_expenses_daily) and `efficiency` (its
      allocations). -#}
with

expenses as (

    select * from {{ ref('k8s_expenses_daily') }}
    where level = '{{ level }}'

),

efficiency as (

    {#- Kubecost's UI: a group's CPU efficiency is its containers' efficiencies weighted by
        their CPU cost (containers without an efficiency left out), RAM likewise, and the
        total efficiency weighs the two by their costs. -#}
    select
        date,
        cluster,
        {{ level_resource_key(level) }} as resource_key,
        sumIf(cpu_efficiency * cpu_cost, cpu_efficiency is not null) as cpu_weighted,
        sumIf(cpu_cost, cpu_efficiency is not null) as cpu_weight,
        sumIf(ram_efficiency * ram_cost, ram_efficiency is not null) as ram_weighted,
        sumIf(ram_cost, ram_efficiency is not null) as ram_weight,
        any(controller_kind) as any_controller_kind,
        any(controller) as any_controller
        {%- if level == 'pod' %},
        {#- a pod's containers share its labels; the namespace's fill the keys it lacks -#}
        any(mapUpdate(namespace_labels, labels)) as any_labels
        {%- endif %}
    from {{ ref('k8s_costs_daily') }}
    where not is_idle
    group by date, cluster, resource_key

),

{%- if level not in ('cluster', 'node') %}

cluster_idle as (

    select
        date,
        cluster,
        idle_cost,
        total_cost as cluster_total_cost,
        cpu_cost as cluster_cpu_cost,
        gpu_cost as cluster_gpu_cost,
        ram_cost as cluster_ram_cost,
        idle_cpu_cost,
        idle_gpu_cost,
        idle_ram_cost
    from {{ ref('k8s_expenses_daily') }}
    where level = 'cluster'

),
{%- endif %}

joined as (

    select
        expenses.date as date,
        expenses.cluster as cluster,
        {%- for name, expression in columns.items() %}
        {{ expression }} as {{ name }},
        {%- endfor %}
        expenses.currency as currency,
        expenses.cpu_cost as cpu_cost,
        expenses.gpu_cost as gpu_cost,
        expenses.ram_cost as ram_cost,
        expenses.pv_cost as pv_cost,
        expenses.network_cost as network_cost,
        expenses.load_balancer_cost as load_balancer_cost,
        expenses.shared_cost as shared_cost,
        expenses.external_cost as external_cost,
        expenses.adjustment_cost as adjustment_cost,
        expenses.total_cost as total_cost,
        {%- if level in ('cluster', 'node') %}
        {#- the level's own idle: the cluster's, or the node's (with idle by node) -#}
        expenses.idle_cost as idle_cost,
        {%- else %}
        {#- Kubecost's idle sharing: the cluster's CPU idle goes to resources by their
            share of the cluster's CPU cost, GPU and RAM idle likewise, scaled to the idle
            total, so the shares of a level add up to the cluster's idle. A day whose
            allocations have no CPU, GPU or RAM cost (only storage, network, ...) shares
            its idle by total cost instead. -#}
        cluster_idle.idle_cost * ifNull(
            (
                if(cluster_idle.cluster_cpu_cost > 0,
                    cluster_idle.idle_cpu_cost * expenses.cpu_cost / cluster_idle.cluster_cpu_cost, 0)
                + if(cluster_idle.cluster_gpu_cost > 0,
                    cluster_idle.idle_gpu_cost * expenses.gpu_cost / cluster_idle.cluster_gpu_cost, 0)
                + if(cluster_idle.cluster_ram_cost > 0,
                    cluster_idle.idle_ram_cost * expenses.ram_cost / cluster_idle.cluster_ram_cost, 0)
            ) / nullIf(
                if(cluster_idle.cluster_cpu_cost > 0, cluster_idle.idle_cpu_cost, 0)
                + if(cluster_idle.cluster_gpu_cost > 0, cluster_idle.idle_gpu_cost, 0)
                + if(cluster_idle.cluster_ram_cost > 0, cluster_idle.idle_ram_cost, 0),
                0
            ),
            if(cluster_idle.cluster_total_cost > 0,
                expenses.total_cost / cluster_idle.cluster_total_cost, 0)
        ) as idle_cost,
        {%- endif %}
        total_cost + idle_cost as total_cost_with_idle,
        {{ ratio('efficiency.cpu_weighted', 'efficiency.cpu_weight') }} as cpu_efficiency,
        {{ ratio('efficiency.ram_weighted', 'efficiency.ram_weight') }} as ram_efficiency,
        {{ ratio(
            'efficiency.cpu_weighted + efficiency.ram_weighted',
            'efficiency.cpu_weight + efficiency.ram_weight'
        ) }} as total_efficiency
    from expenses
    {%- if level not in ('cluster', 'node') %}
    left join cluster_idle
        on cluster_idle.date = expenses.date and cluster_idle.cluster = expenses.cluster
    {%- endif %}
    left join efficiency
        on efficiency.date = expenses.date and efficiency.cluster = expenses.cluster
        and efficiency.resource_key = expenses.resource_key

)

select * from joined
{%- endmacro %}


{% macro recent_days_only(date_column) -%}
  {#- A test's filter to the last `view_test_days` days of the marts (0: every day). Tests
      of the views recompute them: limited to recent days, the daily run tests the days it
      rebuilt (the lookback and the new day) at a cost that does not grow with history; a
      full build in CI tests what it built. -#}
  {%- set days = var('view_test_days', 7) | int -%}
  {%- if days > 0 -%}
    {{ date_column }} > (select max(date) from {{ ref('k8s_expenses_daily') }}) - {{ days }}
  {%- else -%}
    true
  {%- endif -%}
{%- endmacro %}
