"""Events between replicas: the coalesced NOTIFY (notifier) and the one LISTEN
connection per replica that feeds every stream (listener)."""
