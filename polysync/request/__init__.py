"""Polysync run requests: types, limits, coercion, models and the two body shapes.

Kept empty so that importing a light module here (types) does not load pydantic.
"""
