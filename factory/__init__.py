"""factory: a closed-loop data factory for tabular machine learning."""
