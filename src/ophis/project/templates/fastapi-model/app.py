"""The model behind a REST API: `POST /predict`, with its OpenAPI schema at /openapi.json
and interactive docs at /docs."""

from __future__ import annotations

import os

import model
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field

app = FastAPI(title=os.environ.get("MODEL_NAME", "model"), version="1.0")


class Flower(BaseModel):
    sepal_length: float = Field(gt=0, description="cm")
    sepal_width: float = Field(gt=0, description="cm")
    petal_length: float = Field(gt=0, description="cm")
    petal_width: float = Field(gt=0, description="cm")


class Prediction(BaseModel):
    label: str
    probability: float


@app.post("/predict", response_model=Prediction)
def predict(flower: Flower) -> dict[str, object]:
    features = [getattr(flower, name) for name in model.FEATURES]
    try:
        return model.predict(features)
    except ValueError as error:
        raise HTTPException(status_code=422, detail=str(error)) from None


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok", "model": app.title}
