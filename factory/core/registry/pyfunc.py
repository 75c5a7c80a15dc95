"""The MLflow pyfunc wrapper: a registered model scores a raw batch frame."""

from __future__ import annotations

import mlflow.pyfunc
import pandas as pd


class FactoryPyfunc(mlflow.pyfunc.PythonModel):
    """Returns the probability of the positive label for each row."""

    def __init__(self, model):
        self.model = model

    def predict(self, context, model_input: pd.DataFrame, params=None):
        return self.model.predict_proba(model_input)
