document.querySelector("p").textContent += " Its script ran.";
