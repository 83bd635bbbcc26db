"""The tools: the catalogue every face serves, their schemas, answers, views and who may see them."""
