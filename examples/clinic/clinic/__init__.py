"""A small clinic: patients and appointments HTTP providers, a front desk and a reminders consumer."""
