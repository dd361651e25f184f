{#- Small helpers shared by the models. Every macro works on ClickHouse and chDB alike. -#}

{% macro to_float(column) -%}
  {#- null as 0; converted first: ifNull on a Decimal(38, 9) is twice as slow -#}
  ifNull(toFloat64({{ column }}), 0)
{%- endmacro %}

{% macro json_map(column) -%}
  JSONExtract(ifNull({{ column }}, '{}'), 'Map(String, String)')
{%- endmacro %}

{% macro latest_extraction_per(primary_key) -%}
  {#- Keep one row per primary key: the one from the latest extraction. The landing
      ReplacingMergeTree merges duplicates lazily, so readers must deduplicate. -#}
  order by _airbyte_extracted_at desc, _airbyte_raw_id desc
  limit 1 by {{ primary_key | join(', ') }}
{%- endmacro %}

{% macro ratio(numerator, denominator) -%}
  if(({{ denominator }}) > 0, ({{ numerator }}) / ({{ denominator }}), null)
{%- endmacro %}

{% macro days_to_rebuild() -%}
  {#- The days an incremental mart rebuilds: those whose reading (status and id, from
      int_allocation_days_chosen) differs from the one it was built from, and those built
      before their cluster's currency was known. New days and days with a newer complete
      reading are rebuilt; a day left without a complete reading (a re-read that landed
      in part) is kept as it was built, unless the mart does not hold it yet: a reading
      that landed in part never replaces one that landed whole. Returns a subquery of
      dates, for `where date in (...)`. -#}
  (
    select date
    from {{ ref('int_allocation_days_chosen') }}
    where (date, reading, extraction_id) not in (
        select distinct date, reading, extraction_id from {{ this }}
    )
    and not (reading = 'incomplete' and date in (select distinct date from {{ this }}))

    union distinct

    select distinct date
    from {{ this }}
    where currency = '' and cluster in (
        select cluster_id from {{ ref('stg_kubecost__clusters') }} where currency != ''
    )
    and date in (
        select date from {{ ref('int_allocation_days_chosen') }} where reading != 'incomplete'
    )
  )
{%- endmacro %}

{% macro days_changed_in(upstream) -%}
  {#- The days `upstream` (an incremental mart this one is built from) holds differently
      from this model: another reading, currency or cluster set. Returns a subquery of
      dates, for `where date in (...)`. -#}
  (
    select distinct date
    from {{ upstream }}
    where (date, cluster, currency, reading, extraction_id) not in (
        select distinct date, cluster, currency, reading, extraction_id from {{ this }}
    )
  )
{%- endmacro %}

{% macro showback_label_keys() -%}
  {#- The `showback_label_keys` var as a ClickHouse array literal, each key spelled as
      Kubecost stores label keys (every character other than a letter, digit or `_`
      becomes `_`: `app.kubernetes.io/name` is `app_kubernetes_io_name`). -#}
  {%- set keys = [] -%}
  {%- for key in var('showback_label_keys') -%}
    {%- do keys.append(modules.re.sub('[^a-zA-Z0-9_]', '_', key | string)) -%}
  {%- endfor -%}
  [{%- for key in keys %}'{{ key }}'{{ ', ' if not loop.last }}{% endfor -%}]
{%- endmacro %}

{% macro landed_column_or(relation, column, default) -%}
    {#- a column a newer connector added: `default` until the landing table has it (Airbyte's
        destination adds it at the next schema refresh), so dbt can be upgraded first -#}
    {%- set landed = adapter.get_columns_in_relation(relation) | map(attribute='name') | list
        if execute else [] -%}
    {%- if column in landed -%} {{ adapter.quote(column) }} {%- else -%} {{ default }} {%- endif -%}
{%- endmacro %}
