"""Default configuration files (yaml) of recbole-gcnprune, shipped inside the wheel."""
