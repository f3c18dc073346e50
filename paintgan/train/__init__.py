"""Training PaintGAN models: data folders, objectives, the loop, multi-process runs, distillation and export.

Entry points: `config.resolve_config` (defaults, family presets, TOML file and command line into one
`TrainConfig`), `loop.train(config)` (runs or resumes a run directory) and `export.export_run(run_dir, output)`.
"""
