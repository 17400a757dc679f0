"""Recipes and the stages that chain the layers below: pairs/prompts, train, eval; the demo and reproduce."""
