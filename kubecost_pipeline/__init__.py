"""Everything around the Kubecost source: simulator, landing, dbt, CloudTuner projection."""
