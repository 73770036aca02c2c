"""Where the plugin's own files are, in a source checkout and in an installed wheel."""

import os


def properties_dir():
    """``properties/`` of a source checkout, or ``recbole_gcnprune/properties`` of a wheel."""
    here = os.path.dirname(os.path.abspath(__file__))
    for candidate in (os.path.join(here, "properties"), os.path.join(here, "..", "properties")):
        if os.path.isfile(os.path.join(candidate, "overall.yaml")):
            return os.path.normpath(candidate)
    raise FileNotFoundError(f"recbole_gcnprune properties/ not found beside {here}")
