"""Stage 2, train and evaluate: architectures (YAML layer language and the zoo), the
networks built from them, the one batching primitive, training, predictive evaluation and
the grammar's Bayes-optimal oracle."""
