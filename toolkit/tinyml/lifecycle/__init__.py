"""The lifecycle on the host: data versions, runs (MLflow), the model registry with aliases, lineage, model cards.

Stages return reports; this wing records them (`tracking` is the only module that imports MLflow).
"""
