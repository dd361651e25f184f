{#- FOCUS: every column of k8s_focus_costs is a FOCUS 1.2 column or a custom column with
    the `x_` prefix. Lists any other column. -#}

-- depends_on: {{ ref('k8s_focus_costs') }}

{%- set focus_1_2 = [
    'AvailabilityZone', 'BilledCost', 'BillingAccountId', 'BillingAccountName',
    'BillingAccountType', 'BillingCurrency', 'BillingPeriodEnd', 'BillingPeriodStart',
    'CapacityReservationId', 'CapacityReservationStatus', 'ChargeCategory', 'ChargeClass',
    'ChargeDescription', 'ChargeFrequency', 'ChargePeriodEnd', 'ChargePeriodStart',
    'CommitmentDiscountCategory', 'CommitmentDiscountId', 'CommitmentDiscountName',
    'CommitmentDiscountQuantity', 'CommitmentDiscountStatus', 'CommitmentDiscountType',
    'CommitmentDiscountUnit', 'ConsumedQuantity', 'ConsumedUnit', 'ContractedCost',
    'ContractedUnitPrice', 'EffectiveCost', 'InvoiceId', 'InvoiceIssuerName', 'ListCost',
    'ListUnitPrice', 'PricingCategory', 'PricingCurrency',
    'PricingCurrencyContractedUnitPrice', 'PricingCurrencyEffectiveCost',
    'PricingCurrencyListUnitPrice', 'PricingQuantity', 'PricingUnit', 'ProviderName',
    'PublisherName', 'RegionId', 'RegionName', 'ResourceId', 'ResourceName',
    'ResourceType', 'ServiceCategory', 'ServiceName', 'ServiceSubcategory', 'SkuId',
    'SkuMeter', 'SkuPriceDetails', 'SkuPriceId', 'SubAccountId', 'SubAccountName',
    'SubAccountType', 'Tags',
] %}

{%- set columns = adapter.get_columns_in_relation(ref('k8s_focus_costs')) if execute else [] %}
{%- set others = [] %}
{%- for column in columns %}
  {%- if column.name not in focus_1_2 and not column.name.startswith('x_') %}
    {%- do others.append(column.name) %}
  {%- endif %}
{%- endfor %}

select column_name
from (select arrayJoin({{ others | tojson }}::Array(String)) as column_name)
