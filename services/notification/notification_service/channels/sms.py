"""Text messages through SNS (direct publish to a phone number, no topic)."""

from __future__ import annotations

from commerce_platform.aws import AwsClients


class SnsSmsSender:
    def __init__(self, aws: AwsClients, *, sender_id: str = "Commerce") -> None:
        self.aws, self.sender_id = aws, sender_id

    async def send(self, *, to: str, text: str) -> str:
        async with self.aws.client("sns") as sns:
            result = await sns.publish(
                PhoneNumber=to,
                Message=text,
                MessageAttributes={
                    "AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"},
                    "AWS.SNS.SMS.SenderID": {"DataType": "String", "StringValue": self.sender_id[:11]},
                },
            )
        return str(result["MessageId"])
