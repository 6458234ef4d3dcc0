"""The paper's study and ours: curation and its filters, the benchmark (Table 1, Figures 5 to 7), the resolution
and realism studies, the ablation, spreads over seeds, template matching, and the figures and views that show
them (drawn from what they are handed).

Imports the layers below it; never the run's profiles or provenance.
"""
