"""A Panel dashboard: `ophis project run serve`."""

import panel as pn

pn.extension()

slider = pn.widgets.IntSlider(name="n", start=1, end=20, value=5)
pn.Column("# Squares", slider, pn.bind(lambda n: f"{n}² = {n * n}", slider)).servable()
