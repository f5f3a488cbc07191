// Served by StaticFiles; fetches the JSON endpoint to show the request id the stack assigned.
fetch(document.querySelector("a[href$='/api/info']").href)
  .then((response) => response.json())
  .then((info) => { document.getElementById("info").textContent = "request id " + info.request_id; })
  .catch((error) => { document.getElementById("info").textContent = String(error); });
