{#- Small helpers shared by the models. Every macro works on ClickHouse and chDB alike. -#}

{% macro to_float(column) -%}
  toFloat64(ifNull({{ column }}, 0))
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

{% macro days_to_rebuild(upstream, extracted_at='extracted_at') -%}
  {#- The days of `upstream` whose latest extraction differs from what this incremental
      model holds: new days and every day the latest sync re-read (restated costs).
      Returns a subquery of dates, for `where date in (...)`. -#}
  (
    select date
    from {{ upstream }}
    group by date
    having (date, max({{ extracted_at }})) not in (
      select date, max(extracted_at) from {{ this }} group by date
    )
  )
{%- endmacro %}
