//! Compiles every contract under `im/` with protox (pure Rust: no protoc on the machine) and
//! writes the file-descriptor set beside the generated code for gRPC reflection.

use prost::Message;
use std::{env, fs, path::PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "im/logic/v1/common.proto",
        "im/logic/v1/auth.proto",
        "im/logic/v1/users.proto",
        "im/logic/v1/friends.proto",
        "im/logic/v1/conversations.proto",
        "im/logic/v1/groups.proto",
        "im/logic/v1/messages.proto",
        "im/logic/v1/presence.proto",
        "im/repo/v1/types.proto",
        "im/repo/v1/store.proto",
        "im/bus/v1/bus.proto",
    ];
    println!("cargo:rerun-if-changed=im");
    let fds = protox::compile(files, ["."])?;
    let out = PathBuf::from(env::var("OUT_DIR")?);
    fs::write(out.join("natter_descriptor.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure()
        // RPCs that a later issue implements answer UNIMPLEMENTED until then.
        .generate_default_stubs(true)
        // Push frames are decoded as slices of the received buffer and handed to every socket
        // without a copy.
        .bytes(".im.bus.v1.Push.frame")
        .compile_fds(fds)?;
    Ok(())
}
