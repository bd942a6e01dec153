"""Checkout orchestration and orders: reserve, charge, save with an outbox row, cancel with compensation."""
