'use strict';
// Peer for the fan-out benchmark: npm `socket.io` with its defaults (WebSocket transport is what the harness's
// socket.io-client uses). A client that emits "subscribe" (with an acknowledgement) joins the room "tasks";
// a "publish" from any client is broadcast to the room with io.to("tasks").emit("event", payload).
//
//   node socketio-server.js --port 0      prints "listening <port>" on stdout once it accepts connections
const http = require('node:http');
const { Server } = require('socket.io');

const portArg = process.argv.indexOf('--port');
const port = portArg > 0 ? Number(process.argv[portArg + 1]) : 0;

const server = http.createServer();
const io = new Server(server, { perMessageDeflate: false, serveClient: false });

io.on('connection', (socket) => {
  socket.on('subscribe', (topics, ack) => {
    socket.join('tasks');
    if (typeof ack === 'function') ack({ type: 'subscribed', topics });
  });
  socket.on('publish', (payload) => {
    // Every subscriber but the sender (the publisher does not subscribe, so this is the whole room).
    socket.to('tasks').emit('event', payload);
  });
});

server.listen(port, '127.0.0.1', () => console.log(`listening ${server.address().port}`));
process.on('SIGTERM', () => process.exit(0));
