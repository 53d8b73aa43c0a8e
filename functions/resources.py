"""Names that the app's event sources and `template.yaml` share (Chalice binds SQS handlers by queue name)."""

INTAKE_QUEUE = "prakerja-intake"
