{#- A day of Kubecost data is its latest complete reading (docs/records.md, "Extractions").
    Every landed record carries `extraction_id` (one reading of one day) and
    `extraction_records` (how many records that reading emitted); a reading landed whole
    when that many distinct primary keys carry its id. These two macros are the only place
    that rule is written: one summarizes the readings, the other reads the rows of the
    reading each day is built from. Both serve allocations and assets alike. -#}

{% macro summarize_extractions(relation, day_key, record_key) -%}
  {#- One row per reading of a day: what landed of it, whether it landed whole, and how
      staging reads the day. `day_key` names a day (allocations: window_start,
      granularity, idle_policy; assets: window_start); `record_key` is the rest of the
      primary key. -#}
  {%- set day = day_key | join(', ') %}
  with

  counted as (

      select
          {#- key columns are Nullable in append and overwrite landing tables -#}
          {%- for column in day_key %}
          assumeNotNull({{ column }}) as {{ column }},
          {%- endfor %}
          {#- rows landed before the connector stamped them form one legacy reading -#}
          ifNull(extraction_id, '') as extraction_id,
          count() as landed_rows,
          uniqExact({{ record_key }}) as landed_records,
          ifNull(max(extraction_records), 0) as extraction_records,
          max(_airbyte_extracted_at) as extracted_at
      from {{ relation }}
      group by {{ day }}, extraction_id

  ),

  classified as (

      select
          *,
          extraction_id != '' and landed_records = extraction_records as is_complete,
          {#- ids sort by the reading's start: the greatest complete one is the latest -#}
          maxIf(extraction_id, is_complete) over (partition by {{ day }})
              as day_extraction_id,
          countIf(extraction_id != '') over (partition by {{ day }}) as stamped_readings,
          max(extraction_id) over (partition by {{ day }}) as day_latest_extraction_id,
          sum(landed_records) over (
              partition by {{ day }} order by extraction_id desc
              rows between unbounded preceding and 1 preceding
          ) as newer_landed_records
      from counted

  ),

  bounded as (

      {#- Without a complete reading (append_dedup, after ClickHouse merged a
          half-landed re-read over the last complete one), a reading may still have
          landed whole before newer readings replaced some of its keys: its landed keys
          plus every newer reading's make up its record count. The latest such reading
          bounds what the day is read from, so keys it no longer had (and older readings
          still hold) do not come back. -#}
      select
          * except (newer_landed_records),
          maxIf(
              extraction_id,
              extraction_id != ''
                  and landed_records + newer_landed_records >= extraction_records
          ) over (partition by {{ day }}) as oldest_extraction_read
      from classified

  ),

  chosen as (

      select
          toDate(window_start) as date,
          *,
          multiIf(
              day_extraction_id != '', 'complete',
              stamped_readings = 0, 'legacy',
              'incomplete'
          ) as day_reading,
          multiIf(
              {#- the day's reading, each key landed once: read its rows as they are -#}
              day_extraction_id != '' and extraction_id = day_extraction_id
                  and landed_rows = landed_records, 'as_landed',
              {#- the day's reading with a key landed twice (an insert retried) -#}
              day_extraction_id != '' and extraction_id = day_extraction_id,
                  'latest_row_per_key',
              {#- no complete reading: the latest row of each key, from the readings
                  not older than the latest that may have landed whole -#}
              day_extraction_id = '' and extraction_id >= oldest_extraction_read,
                  'latest_row_per_key',
              'not_read'
          ) as read_as
      from bounded

  )

  select * from chosen
{%- endmacro %}


{% macro rows_of_chosen_readings(relation, extractions, day_key, record_key) -%}
  {#- The landed rows each day is built from, as `extractions` (a summarize_extractions
      model) chose them. Most days are read as landed: an IN-set filter, no sort, no
      dedup, so the cost grows linearly with the table and a filter on the day key from
      the reader reaches the landing table's primary index. The rare rest (duplicated
      keys, days without a complete reading) keeps the latest row of each key. -#}
  {%- set day = day_key | join(', ') %}
  select * from {{ relation }}
  where ({{ day }}, ifNull(extraction_id, '')) in (
      select {{ day }}, extraction_id from {{ extractions }} where read_as = 'as_landed'
  )

  union all

  select * from (
      select * from {{ relation }}
      where ({{ day }}, ifNull(extraction_id, '')) in (
          select {{ day }}, extraction_id from {{ extractions }}
          where read_as = 'latest_row_per_key'
      )
      {#- unstamped rows are older than any stamped reading -#}
      order by ifNull(extraction_id, '') desc, _airbyte_extracted_at desc,
          _airbyte_raw_id desc
      limit 1 by {{ day }}, {{ record_key }}
  )
{%- endmacro %}
