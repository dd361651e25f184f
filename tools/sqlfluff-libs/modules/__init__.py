"""dbt's `modules` namespace, as far as the models use it."""

import datetime
import re

__all__ = ["datetime", "re"]
