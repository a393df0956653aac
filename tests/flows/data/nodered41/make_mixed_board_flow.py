import json
T_A, T_C, T_OFF = "a1b2c3d4e5f60001", "a1b2c3d4e5f60002", "a1b2c3d4e5f60003"
SF, SF2 = "5f0000000000aa01", "5f0000000000aa02"
G1, G2 = "9000000000000001", "9000000000000002"
flow = [
 {"id":T_A,"type":"tab","label":"Board A","disabled":False,"info":"Sensors on board A","env":[{"name":"EDGEWIRE_BOARD","value":"brd-a","type":"str"},{"name":"SITE","value":"greenhouse","type":"str"}]},
 {"id":T_C,"type":"tab","label":"Cloud","disabled":False,"info":"","env":[]},
 {"id":T_OFF,"type":"tab","label":"Parked","disabled":True,"info":"","env":[]},
 # subflow: scale with env FACTOR (num) and UNIT (str); nested subflow tag
 {"id":SF2,"type":"subflow","name":"tag","info":"","category":"","in":[{"x":60,"y":80,"wires":[{"id":"5f0000000000bb01"}]}],
  "out":[{"x":360,"y":80,"wires":[{"id":"5f0000000000bb01","port":0}]}],"env":[{"name":"TAG","type":"str","value":"raw"}],"color":"#DDAA99"},
 {"id":"5f0000000000bb01","type":"change","z":SF2,"name":"set topic","rules":[{"t":"set","p":"topic","pt":"msg","to":"TAG","tot":"env"}],"action":"","property":"","from":"","to":"","reg":False,"x":210,"y":80,"wires":[[]]},
 {"id":SF,"type":"subflow","name":"scale","info":"Scales msg.payload by FACTOR","category":"","in":[{"x":60,"y":80,"wires":[{"id":"5f0000000000aa11"}]}],
  "out":[{"x":560,"y":80,"wires":[{"id":"5f0000000000aa13","port":0}]},{"x":560,"y":160,"wires":[{"id":SF,"port":0}]}],
  "env":[{"name":"FACTOR","type":"num","value":"2"},{"name":"UNIT","type":"str","value":"C"},{"name":"LIMITS","type":"json","value":"{\"min\":0,\"max\":100}"},{"name":"ROOM","type":"env","value":"SITE"}],"color":"#DDAA99"},
 {"id":"5f0000000000aa11","type":"range","z":SF,"name":"","minin":"0","maxin":"1","minout":"0","maxout":"100","action":"scale","round":False,"property":"payload","x":170,"y":80,"wires":[["5f0000000000aa12"]]},
 {"id":"5f0000000000aa12","type":"junction","z":SF,"x":260,"y":80,"wires":[["5f0000000000aa14","5f0000000000aa15"]]},
 {"id":"5f0000000000aa14","type":"subflow:"+SF2,"z":SF,"name":"","env":[{"name":"TAG","value":"scaled","type":"str"}],"x":340,"y":60,"wires":[["5f0000000000aa13"]]},
 {"id":"5f0000000000aa15","type":"debug","z":SF,"name":"inside (disabled)","active":True,"tosidebar":True,"console":False,"tostatus":False,"complete":"payload","targetType":"msg","statusVal":"","statusType":"auto","d":True,"x":370,"y":120,"wires":[]},
 {"id":"5f0000000000aa13","type":"change","z":SF,"name":"unit","rules":[{"t":"set","p":"unit","pt":"msg","to":"UNIT","tot":"env"}],"action":"","property":"","from":"","to":"","reg":False,"x":470,"y":80,"wires":[[]]},
 # board A tab
 {"id":G1,"type":"group","z":T_A,"name":"Board B corner","style":{"label":True},"nodes":["c0000000000000b1"],"env":[{"name":"EDGEWIRE_BOARD","value":"brd-b","type":"str"}],"x":34,"y":259,"w":252,"h":82},
 {"id":"c000000000000001","type":"inject","z":T_A,"name":"tick","props":[{"p":"payload"}],"repeat":"1","crontab":"","once":True,"onceDelay":0.1,"topic":"","payload":"0.5","payloadType":"num","x":130,"y":80,"wires":[["c000000000000002"]]},
 {"id":"c000000000000002","type":"subflow:"+SF,"z":T_A,"name":"scale x10","env":[{"name":"FACTOR","value":"10","type":"num"}],"x":300,"y":80,"wires":[["c000000000000003"],["c000000000000004"]]},
 {"id":"c000000000000003","type":"junction","z":T_A,"x":420,"y":80,"wires":[["c000000000000005","c000000000000006"]]},
 {"id":"c000000000000004","type":"debug","z":T_A,"name":"passthrough","active":True,"tosidebar":True,"console":True,"tostatus":False,"complete":"payload","targetType":"msg","statusVal":"","statusType":"auto","x":450,"y":160,"wires":[]},
 {"id":"c000000000000005","type":"link out","z":T_A,"name":"to cloud","mode":"link","links":["c0000000000000c1"],"x":515,"y":60,"wires":[]},
 {"id":"c000000000000006","type":"rbe","z":T_A,"name":"","func":"rbe","gap":"","start":"","inout":"out","septopics":True,"property":"payload","topi":"topic","x":530,"y":120,"wires":[["c0000000000000b1","c000000000000007"]]},
 {"id":"c000000000000007","type":"debug","z":T_A,"name":"disabled debug","active":True,"tosidebar":True,"console":False,"tostatus":False,"complete":"payload","targetType":"msg","statusVal":"","statusType":"auto","d":True,"x":690,"y":160,"wires":[]},
 {"id":"c0000000000000b1","type":"mqtt out","z":T_A,"g":G1,"name":"","topic":"sensors/a","qos":"1","retain":"","respTopic":"","contentType":"","userProps":"","correl":"","expiry":"","broker":"c0000000000000f1","x":160,"y":300,"wires":[]},
 {"id":"c0000000000000f1","type":"mqtt-broker","name":"local","broker":"127.0.0.1","port":"1883","clientid":"","autoConnect":False,"usetls":False,"protocolVersion":"4","keepalive":"60","cleansession":True,"autoUnsubscribe":True,"birthTopic":"","birthQos":"0","birthRetain":"false","birthPayload":"","birthMsg":{},"closeTopic":"","closeQos":"0","closeRetain":"false","closePayload":"","closeMsg":{},"willTopic":"","willQos":"0","willRetain":"false","willPayload":"","willMsg":{},"userProps":"","sessionExpiry":""},
 {"id":"c0000000000000d1","type":"comment","z":T_A,"name":"scaled readings go to the cloud","info":"","x":160,"y":40,"wires":[]},
 # cloud tab
 {"id":"c0000000000000c1","type":"link in","z":T_C,"name":"from board A","links":["c000000000000005"],"x":95,"y":80,"wires":[["c0000000000000c2"]]},
 {"id":"c0000000000000c2","type":"debug","z":T_C,"name":"cloud debug","active":True,"tosidebar":True,"console":True,"tostatus":False,"complete":"true","targetType":"full","statusVal":"","statusType":"auto","x":250,"y":80,"wires":[]},
 # parked (disabled) tab
 {"id":"c0000000000000e1","type":"inject","z":T_OFF,"name":"parked","props":[{"p":"payload"}],"repeat":"","crontab":"","once":False,"onceDelay":0.1,"topic":"","payload":"","payloadType":"date","x":120,"y":80,"wires":[["c0000000000000e2"]]},
 {"id":"c0000000000000e2","type":"debug","z":T_OFF,"name":"","active":True,"tosidebar":True,"console":False,"tostatus":False,"complete":"false","statusVal":"","statusType":"auto","x":300,"y":80,"wires":[]},
]
json.dump(flow, open("edgewire-mixed.json","w"), indent=4)
