"""The tools the model can call, and the registry that describes and dispatches them."""
