-- A cluster whose daily costs are in more than one currency (the Kubecost currency setting
-- changed while the incremental marts kept older days): k8s_resources would add them up.
-- Refused: rebuild the marts with `dbt build --full-refresh` once the costs Kubecost
-- reports are all in the new currency, or keep the old days apart yourself. An unknown
-- currency ('') is not another currency: the unknown_currency warning names those days.
select
    cluster,
    groupUniqArrayIf(currency, currency != '') as currencies,
    min(date) as first_date,
    max(date) as last_date
from {{ ref('k8s_expenses_daily') }}
group by cluster
having length(currencies) > 1
