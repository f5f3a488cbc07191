// Shows the request id of a second request, fetched from the JSON endpoint.
fetch("/api/info")
    .then((response) => response.json())
    .then((info) => {
        const note = document.createElement("p");
        note.textContent = `A second request got the id ${info.request_id} from worker ${info.pid}.`;
        document.body.append(note);
    });
