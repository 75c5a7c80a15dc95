"""The registered model, logged as MLflow "models from code": MLflow runs this file to
rebuild it, and `load_context` reads the fitted classifier from the plain artifacts
`Classifier.save` wrote (LightGBM's text model, torch weights loaded with
weights_only=True, JSON). No Python object is pickled. The factory package is logged
beside it (code_paths), so it loads where `factory` is not installed.

Not imported by the factory: the registry hands MLflow this file's path."""

from __future__ import annotations

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel


class FactoryPyfunc(PythonModel):
    """Returns the probability of the positive label for each row."""

    def load_context(self, context) -> None:
        from factory.core.learn.recipe import load_classifier

        self.model = load_classifier(context.artifacts["classifier"])

    def predict(self, context, model_input: pd.DataFrame, params=None):
        return self.model.predict_proba(model_input)


mlflow.models.set_model(FactoryPyfunc())
