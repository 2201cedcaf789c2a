"""Train a linear classifier on scikit-learn's bundled handwritten-digits data set and log its
validation accuracy with MLflow after every epoch: the same script runs as an Azure ML sweep
trial and in a local rehearsal (`python -m devhost.rehearsal ...`), unchanged.

Azure ML (and the rehearsal) start the MLflow run for the job and set MLFLOW_RUN_ID, so
`mlflow.start_run()` resumes it; the script never configures a tracking URI.
"""

from __future__ import annotations

import argparse
import pickle
from pathlib import Path

import mlflow
import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import SGDClassifier
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--learning-rate", type=float, required=True)
    parser.add_argument("--alpha", type=float, required=True)
    parser.add_argument("--loss", default="log_loss")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--model-dir", type=Path, required=True)
    args = parser.parse_args()

    x, y = load_digits(return_X_y=True)
    x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=0.3, random_state=0, stratify=y)
    scaler = StandardScaler().fit(x_train)
    x_train, x_val = scaler.transform(x_train), scaler.transform(x_val)
    classes = np.unique(y)
    model = SGDClassifier(
        loss=args.loss, alpha=args.alpha, learning_rate="constant", eta0=args.learning_rate, random_state=0
    )

    with mlflow.start_run():
        mlflow.log_params({"learning_rate": args.learning_rate, "alpha": args.alpha, "loss": args.loss})
        for epoch in range(args.epochs):
            model.partial_fit(x_train, y_train, classes=classes)
            accuracy = float(model.score(x_val, y_val))
            mlflow.log_metric("accuracy", accuracy, step=epoch)
            print(f"epoch {epoch}: accuracy {accuracy:.4f}", flush=True)
        args.model_dir.mkdir(parents=True, exist_ok=True)
        with (args.model_dir / "model.pkl").open("wb") as f:
            pickle.dump({"scaler": scaler, "model": model}, f)


if __name__ == "__main__":
    main()
