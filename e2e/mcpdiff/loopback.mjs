// Preloaded into server-everything (node --import ./loopback.mjs) in the differential test:
// its HTTP mode listens on every interface (app.listen(PORT)); test servers listen on
// 127.0.0.1 only, so a listen without a host gets that host.
import net from "node:net";

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === "number" || (typeof args[0] === "string" && /^\d+$/.test(args[0]))) {
    if (typeof args[1] !== "string") args.splice(1, 0, "127.0.0.1");
  }
  return listen.apply(this, args);
};
