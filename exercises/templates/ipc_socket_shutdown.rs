//! ipc_socket_shutdown: shutdown(Write) tells the peer "that is all".
//! 套接字：客户端发完请求要 shutdown(Write)，服务器的“读到 EOF”才会结束。
//!
//! The server (a child process) reads the whole request up to EOF, then answers in upper case.
//! The client writes its request and waits for the reply. EOF on a socket comes when the peer
//! shuts down its sending side, or when EVERY descriptor of that end is closed. The client cannot
//! close its end (it still reads the reply): it must shut down the writing half only.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;

fn main() -> anyhow::Result<()> {
    // socketpair(2): two connected AF_UNIX sockets, like a connected TCP pair without a port.
    let (mut client, server) = UnixStream::pair()?;
    let mut server_process = common::spawn("server", || {
        let mut server = server.try_clone()?;
        let mut request = String::new();
        server.read_to_string(&mut request)?; // until the client says it has finished
        server.write_all(request.to_uppercase().as_bytes())?;
        Ok(())
    })?;
    // The parent is only the client: close its copy of the server's end.
    drop(server);

    client.write_all(b"hello server")?;
    // TODO: the server reads until EOF. When does it get one?
    let mut reply = String::new();
    client.read_to_string(&mut reply)?;
    println!("reply: {reply}");
    server_process.join()?;
    Ok(())
}
