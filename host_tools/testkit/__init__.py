"""Test and benchmark support, no part of any tool: an in-process fake badge
(fake_badge), the desk's fault-injection harness (desk_faults) and a throwaway
PostgreSQL server (pgserver)."""
