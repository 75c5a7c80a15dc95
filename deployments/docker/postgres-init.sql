-- The compose PostgreSQL holds three databases: Dagster's instance (created by POSTGRES_DB),
-- MLflow's tracking and registry store, and the dbt warehouse.
CREATE DATABASE mlflow;
CREATE DATABASE warehouse;
