"""Moves every message from a dead-letter queue back to its source queue, once the cause is fixed.

AWS also offers this as `StartMessageMoveTask`; moto's SQS does not implement it, so this does the same with
receive, send and delete, which works against every endpoint. A message is deleted from the DLQ only after the
source queue has taken it, so a failure part-way loses nothing (at worst a message is sent twice, which every
consumer tolerates).
"""

from __future__ import annotations

from typing import Any


def redrive(sqs: Any, queue_name: str, dead_letter_name: str | None = None) -> int:
    source_url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
    dead_url = sqs.get_queue_url(QueueName=dead_letter_name or f"{queue_name}-dlq")["QueueUrl"]
    moved = 0
    while True:
        batch = sqs.receive_message(
            QueueUrl=dead_url, MaxNumberOfMessages=10, WaitTimeSeconds=1, MessageAttributeNames=["All"]
        ).get("Messages", [])
        if not batch:
            return moved
        entries = [
            {
                "Id": str(i),
                "MessageBody": m["Body"],
                **({"MessageAttributes": m["MessageAttributes"]} if m.get("MessageAttributes") else {}),
            }
            for i, m in enumerate(batch)
        ]
        sent = sqs.send_message_batch(QueueUrl=source_url, Entries=entries)
        taken = {entry["Id"] for entry in sent.get("Successful", [])}
        done = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch) if str(i) in taken]
        if done:
            sqs.delete_message_batch(QueueUrl=dead_url, Entries=done)
        moved += len(done)
        if len(done) < len(batch):
            raise RuntimeError(f"the source queue refused {len(batch) - len(done)} messages; run the command again")
