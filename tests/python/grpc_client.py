"""A backend service written in Python against Natter's gRPC contracts.

The stubs are generated from proto/ by grpcio-tools (Python's standard protobuf toolchain), so
this checks that the contracts work for a client that shares no code with the server.
Usage: python grpc_client.py HOST:PORT GENERATED_DIR
"""

import sys
import uuid

sys.path.insert(0, sys.argv[2])

import grpc  # noqa: E402
from im.logic.v1 import auth_pb2, auth_pb2_grpc  # noqa: E402
from im.logic.v1 import conversations_pb2, conversations_pb2_grpc  # noqa: E402
from im.logic.v1 import messages_pb2, messages_pb2_grpc  # noqa: E402


def main() -> None:
    channel = grpc.insecure_channel(sys.argv[1])
    auth = auth_pb2_grpc.AuthServiceStub(channel)
    tag = uuid.uuid4().hex[:10]
    password = "correct horse battery"

    a = auth.Register(auth_pb2.RegisterRequest(
        email=f"py_{tag}@example.org", password=password, nickname=f"py_{tag}"))
    b = auth.Register(auth_pb2.RegisterRequest(
        email=f"pb_{tag}@example.org", password=password, nickname=f"pb_{tag}"))
    login = auth.Login(auth_pb2.LoginRequest(email=f"py_{tag}@example.org", password=password))
    assert login.user_id == a.user_id, (login.user_id, a.user_id)
    assert login.expires_in > 0

    try:
        auth.Login(auth_pb2.LoginRequest(email=f"py_{tag}@example.org", password="wrong password"))
        raise AssertionError("a wrong password was accepted")
    except grpc.RpcError as err:
        assert err.code() == grpc.StatusCode.UNAUTHENTICATED, err.code()

    as_a = [("authorization", f"Bearer {login.access_token}")]
    as_b = [("authorization", f"Bearer {b.access_token}")]
    conversations = conversations_pb2_grpc.ConversationServiceStub(channel)
    direct = conversations.CreateDirect(
        conversations_pb2.CreateDirectRequest(participant_id=b.user_id), metadata=as_a)
    chat = direct.conversation.conversation_id
    assert direct.created

    messages = messages_pb2_grpc.MessageServiceStub(channel)
    sent = messages.SendMessage(messages_pb2.SendMessageRequest(
        conversation_id=chat, content="hello from Python", client_msg_id="py-1"), metadata=as_a)
    assert sent.message.seq == 1, sent
    again = messages.SendMessage(messages_pb2.SendMessageRequest(
        conversation_id=chat, content="hello from Python", client_msg_id="py-1"), metadata=as_a)
    assert again.duplicate and again.message.message_id == sent.message.message_id

    page = messages.SyncMessages(
        messages_pb2.SyncMessagesRequest(conversation_id=chat, after_seq=0), metadata=as_b)
    assert [m.content for m in page.messages] == ["hello from Python"], page
    print("python grpc client: registered, logged in, sent and synced")


if __name__ == "__main__":
    main()
