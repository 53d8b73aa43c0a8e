"""The data-access layer: the only code that talks to DynamoDB."""
