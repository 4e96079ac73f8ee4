"""Drift monitoring: is the model in service still looking at the data it was trained on?

`app.drift.statistics` compares samples (PSI, Kolmogorov-Smirnov, Wasserstein, shifts of mean
and spread) and scores forecasts (MAE, RMSE, sMAPE, bias, coverage); `app.drift.thresholds`
turns values into ok / warn / alert, with documented defaults or thresholds calibrated on the
series' own reference period; `app.drift.measure` applies both to a run's data. No database
in this package: `app.services.drift` loads the data, runs them and stores the results in
`drift_metrics`.
"""
